<h2>Mastodon</h2>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
% states = {row.account: row for row in status}
% for account in connected:
%   row = states.get(account['id'])
<p><strong>{{account['handle']}}</strong>:
% if not account['active']:
  stopped: the instance refused the account{{': ' + row.last_error if row and row.last_error else ''}}. Connect it again below.
% elif row:
  {{row.state}}{{' (' + row.last_error + ')' if row.last_error else ''}}
% else:
  starting
% end
</p>
<form method="post" action="/bots/mastodon/{{city.name}}/disconnect" class="inline">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="account" value="{{account['id']}}">
  <button class="secondary">Disconnect {{account['handle']}}</button>
</form>
% end
% if not connected:
<p>No Mastodon account is connected. Mentions and direct messages to the city's account become reports; accepted reports are posted there.</p>
% end
<form method="post" action="/bots/mastodon/{{city.name}}/connect">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="mastodon-instance">Your city's Mastodon instance</label>
  <input id="mastodon-instance" name="instance" placeholder="chaos.social" required maxlength="300">
  <button>Connect an account</button>
</form>
<details>
<summary>Or paste an access token</summary>
<form method="post" action="/bots/mastodon/{{city.name}}/token">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="mastodon-token-instance">Instance</label>
  <input id="mastodon-token-instance" name="instance" placeholder="chaos.social" required maxlength="300">
  <label for="mastodon-token">Access token (Preferences → Development → New application, scopes read and write)</label>
  <input id="mastodon-token" name="token" required maxlength="500" autocomplete="off">
  <button>Connect with this token</button>
</form>
</details>
<form method="post" action="/bots/mastodon/{{city.name}}/visibility">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="mastodon-visibility">Reports are posted</label>
  <select id="mastodon-visibility" name="visibility">
    <option value="public"{{' selected' if visibility == 'public' else ''}}>public</option>
    <option value="unlisted"{{' selected' if visibility == 'unlisted' else ''}}>unlisted</option>
  </select>
  <button>Save</button>
</form>
