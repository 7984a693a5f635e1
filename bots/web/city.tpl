% from urllib.parse import quote
<h2>On this page</h2>
% if web.form:
<form id="report" method="post" action="/bots/web/{{quote(city.name)}}/report">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="report-text">What did you see, where, which direction?</label>
  <textarea id="report-text" name="text" rows="3" required maxlength="2000"></textarea>
  <div class="hp" aria-hidden="true">
    <label for="report-website">Leave this empty</label>
    <input id="report-website" name="website" type="text" tabindex="-1" autocomplete="off">
  </div>
  <button>Send the report</button>
</form>
<p><small>Only the text is passed on; nothing about you is kept with it.</small></p>
% end
% if web.feed:
<section id="recent" class="recent-reports" data-refresh="{{'%g' % refresh}}">
<h3>Reports of the last {{'%g' % web.window_hours}} hours</h3>
% if recent:
<ul>
% for r in recent:
  <li id="report-{{r.id}}">\\
% if r.place:
<strong class="report-place">{{r.place}}:</strong> \\
% end
<span class="report-text">{{r.text}}</span>
    <small>{{r.age()}} · via {{r.source}}</small></li>
% end
</ul>
% else:
<p>None yet.</p>
% end
<p><small><a href="/city/{{quote(city.name)}}/feed.atom">Follow these reports in a feed reader</a> (Atom).</small></p>
</section>
<script src="/static/refresh.js" defer></script>
% end
