% rebase('base.tpl', title='Settings')
% from time import strftime, localtime
% def when(t):
%   return strftime('%Y-%m-%d %H:%M', localtime(t)) if t else '–'
% end
% shown = {'running': 'running', 'starting': 'starting', 'backoff': 'restarting', 'inactive': 'stopped', 'stopped': 'stopped'}
<h1>{{city.name.capitalize()}}</h1>
<p>Your public page: <a href="/city/{{city.name}}">{{base_url}}/city/{{city.name}}</a></p>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
% if message:
<p class="message" role="status">{{message}}</p>
% end
% if blocked:
<p class="error" role="alert">Your city was disabled by the instance's administrator{{': ' + block_reason if block_reason else ''}}. Its bots are stopped and its public page is gone. Switching it on here does not enable it; only the administrator can.</p>
% end
% if reserved_name:
<p class="error" role="alert">Your city's name, "{{city.name}}", is reserved on this instance for the domain's own mail addresses (such as admin@ or postmaster@). So your city has no mail address: mail to it is refused, and the mailing list neither takes reports nor sends them. Everything else works. Ask the administrator to rename your city.</p>
% end

<section id="status">
<h2>Your bots</h2>
% if status:
<table>
  <thead><tr><th>Network</th><th>State</th><th>Last report</th><th>Last delivery</th></tr></thead>
  <tbody>
% for row in status:
  <tr><td>{{row.network}} {{get('labels', {}).get((row.network, row.account)) or row.account}}</td>
      <td class="state-{{row.state}}">{{shown.get(row.state, row.state)}}
% if row.last_error:
        <br><small>{{row.last_error}}</small>
% end
      </td>
      <td>{{when(row.last_report_at)}}</td><td>{{when(row.last_delivery_at)}}</td></tr>
% end
  </tbody>
</table>
% else:
<p>No bot runs for your city yet: connect an account below.</p>
% end
</section>

<section id="enabled">
<h2>City on or off</h2>
<form method="post" action="/settings/enabled">
  <input type="hidden" name="csrf" value="{{csrf}}">
% if enabled:
  <p>Your city is <strong>on</strong>.</p>
  <input type="hidden" name="enabled" value="0"><button>Turn it off</button>
% else:
  <p>Your city is <strong>off</strong>: its bots do not run and its page is hidden.</p>
  <input type="hidden" name="enabled" value="1"><button>Turn it on</button>
% end
</form>
</section>

<section id="texts">
<h2>Page text</h2>
<form method="post" action="/settings/texts">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="markdown">Your city's public page (Markdown)</label>
  <textarea id="markdown" name="markdown" rows="10">{{markdown}}</textarea>
  <button name="action" value="preview" class="secondary">Preview</button>
  <button name="action" value="save">Save the text</button>
</form>
% if preview:
<h3>Preview</h3>
<div class="preview">{{!preview}}</div>
% end
</section>

<section id="patterns">
<h2>Trigger patterns</h2>
<p>A report is relayed when one of these matches anywhere in it, as in version 2 (one per line;
case does not matter; regular expressions: <code>kontroll?e</code> also finds
"Fahrkartenkontrolle"; <code>\bu\d\d?\b</code> finds U1 to U99 as a word of its own,
<code>\b</code> marking a word's edge).</p>
% problems = get('pattern_problems', [])
% if problems:
<div class="error" id="pattern-problems"><p>The censor cannot use all of your saved list:</p>
<ul>
% for problem in problems:
  <li>{{problem}}</li>
% end
</ul>
<p>The other patterns are applied. A line marked “not used” may stay when you save the list;
it is left out until you correct or remove it.</p></div>
% end
% for reason, count in get('set_aside', []):
<p class="error set-aside">{{count}} report{{'' if count == 1 else 's'}} of the last 24 hours {{'was' if count == 1 else 'were'}} set aside, not relayed: {{reason}}</p>
% end
<form method="post" action="/settings/patterns">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <textarea id="patterns-text" name="patterns" rows="10">{{patterns}}</textarea>
  <button>Save the trigger patterns</button>
</form>
</section>

<section id="blocklist">
<h2>Blocklist</h2>
<p>A report with one of these words is never relayed (one per line). A list of slurs is always blocked.</p>
<form method="post" action="/settings/blocklist">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <textarea id="blocklist-text" name="blocklist" rows="6">{{blocklist}}</textarea>
  <button>Save the blocklist</button>
</form>
</section>

<section id="transit">
<h2>Stations and lines</h2>
<p>With your city's transit data (a GTFS feed, published by most transit authorities) Ticketfrei
recognises the station, line and direction in a report ("2x U8 Hermannplatz Richtung Wittenau")
and relayed reports begin with them: "U8 Hermannplatz → Wittenau: …".</p>
% if transit and transit.get('imported_at'):
<p id="transit-summary">Imported {{when(transit['imported_at'])}} from {{transit['source']}}:
{{transit.get('stations', 0)}} stations, {{transit.get('lines', 0)}} lines,
{{transit.get('patterns', 0)}} routes of trips (from {{transit.get('stops', 0)}} stops and
{{transit.get('trips', 0)}} trips), {{len([l for l in transit['aliases_text'].splitlines() if l.strip() and not l.strip().startswith('#')])}} aliases.</p>
% else:
<p id="transit-summary">No transit data yet.</p>
% end
% if upload_mb:
<form method="post" action="/settings/transit/upload" enctype="multipart/form-data" id="transit-upload" data-chunks="/settings/transit/chunk">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="transit-feed">A GTFS feed (zip, at most {{upload_mb}} MB; without JavaScript at most 250 KB)</label>
  <input id="transit-feed" type="file" name="feed" accept=".zip,application/zip">
  <button>Import the feed</button>
  <span role="status" data-upload-status></span>
</form>
<script src="/static/upload.js" defer></script>
% end
<form method="post" action="/settings/transit/url">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="transit-url">Or the feed's address</label>
  <input id="transit-url" type="url" name="url" value="{{get('transit_url', '')}}" placeholder="https://…/gtfs.zip">
  <button>Fetch and import</button>
</form>
% if transit:
<form method="post" action="/settings/transit/aliases">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="transit-aliases">Names riders use for a station, one per line: <code>Kotti = Kottbusser Tor</code></label>
  <textarea id="transit-aliases" name="aliases" rows="5">{{get('aliases', transit['aliases_text'])}}</textarea>
  <button>Save the aliases</button>
</form>
<form method="post" action="/settings/transit/prefix">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label><input type="checkbox" name="prefix" value="1"{{' checked' if transit['prefix'] else ''}}>
  Relayed reports begin with the station, line and direction recognised</label>
  <button>Save</button>
</form>
<form method="post" action="/settings/transit/try" id="transit-try">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="transit-text">Try a report</label>
  <input id="transit-text" name="text" value="{{get('tried', '')}}" placeholder="2x U8 Hermannplatz Richtung Wittenau">
  <button>Show what is recognised</button>
</form>
% place = get('place')
% if place is not None:
<dl id="transit-result">
  <dt>Station</dt><dd>{{place.station or '–'}}</dd>
  <dt>Line</dt><dd>{{place.line or '–'}}</dd>
  <dt>Direction</dt><dd>{{place.direction or '–'}}</dd>
  <dt>Relayed as</dt><dd>{{place.prefix()}}{{get('tried', '')}}</dd>
</dl>
% end
% end
</section>

% for name, part in parts:
<section class="network network-{{name}}" id="network-{{name}}">{{!part}}</section>
% end
