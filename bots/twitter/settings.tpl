<h2>X (Twitter)</h2>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
% from bots.twitter.bot import TwitterBot
% options = TwitterBot.options
% reads = [what for what, on in (('mentions', options.read_mentions), ('direct messages', options.read_direct_messages)) if on]
% states = {row.account: row for row in status}
% for account in connected:
%   row = states.get(account['id'])
<p>
% if account['username']:
  <strong><a href="https://x.com/{{account['username']}}">{{account['handle']}}</a></strong>:
% else:
  <strong>{{account['handle']}}</strong>:
% end
% if not configured:
  not running: the instance has no X app.
% elif not account['active']:
  stopped: {{row.last_error.rstrip('.') if row and row.last_error else "X refused the account's token"}}. Connect it again below.
% elif row:
  {{row.state}}{{' (' + row.last_error + ')' if row.last_error else ''}}
% else:
  starting
% end
</p>
% if configured:
<form method="post" action="/bots/twitter/{{city.name}}/disconnect" class="inline">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="account" value="{{account['id']}}">
  <button class="secondary">Disconnect {{account['handle']}}</button>
</form>
% end
% end
% if not configured:
<p>Connecting an X account needs the instance's own app on X: the instance's administrator must set X's consumer key and secret (<code>[bots.twitter]</code> <code>consumer_key</code> and <code>consumer_secret</code>) first.</p>
% else:
% if not connected:
% if reads:
<p>No X account is connected. {{' and '.join(reads).capitalize()}} of the city's account become reports; accepted reports are posted there.</p>
% else:
<p>No X account is connected. Accepted reports are posted there (this instance does not read X: every post read costs it money).</p>
% end
% end
<form method="post" action="/bots/twitter/{{city.name}}/connect">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <p>X asks you to log in there with the city's account (if you are not) and to authorise Ticketfrei, then sends you back here.</p>
  <button>Connect an X account</button>
</form>
% if connected:
<p>Disconnecting forgets the account's token here, but X cannot be told: revoke Ticketfrei's access under Settings → Security → Connected apps on X.</p>
% end
% end
