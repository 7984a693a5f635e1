<h2>Telegram</h2>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
% states = {row.account: row for row in status}
% connected = any(bot['connected'] for bot in bots)
% for bot in bots:
%   row = states.get(bot['id'])
<p>
% if bot['username']:
  <strong><a href="https://t.me/{{bot['username']}}">{{bot['handle']}}</a></strong>:
% else:
  <strong>{{bot['handle']}}</strong>:
% end
% if not bot['connected']:
  disconnected. {{bot['subscribers']}} {{'subscriber is' if bot['subscribers'] == 1 else 'subscribers are'}} kept: paste this bot's token below to connect it again.
</p>
%   continue
% elif not bot['active']:
  stopped: {{row.last_error.rstrip('.') if row and row.last_error else "Telegram refused the bot's token"}}.
  Paste the bot's new token from @BotFather (<code>/token</code>) below.
% elif row:
  {{row.state}}{{' (' + row.last_error + ')' if row.last_error else ''}}
% else:
  starting
% end
</p>
<p>{{bot['subscribers']}} {{'person gets' if bot['subscribers'] == 1 else 'people get'}} every report from the bot (they sent it <code>/start</code>).</p>
<form method="post" action="/bots/telegram/{{city.name}}/channel">
  <input type="hidden" name="csrf" value="{{csrf}}">
% if bot['channel']:
  <p>Every report is posted to the channel
% if bot['channel'].startswith('@'):
  <a href="https://t.me/{{bot['channel'][1:]}}">{{bot['channel']}}</a>.
% else:
  <strong>{{bot['channel']}}</strong>.
% end
  Save an empty field to stop that.</p>
% else:
  <p>The bot can post every report to a channel too: make {{bot['handle']}} an administrator of the channel who may post messages, then give the channel here.</p>
% end
  <label for="telegram-channel">Channel (@name, t.me link, or its id -100…)</label>
  <input id="telegram-channel" name="channel" value="{{bot['channel'] if bot['channel'] and bot['channel'].startswith('@') else ''}}" placeholder="@ticketfrei_{{city.name}}" maxlength="300">
  <button>Save the channel</button>
</form>
<form method="post" action="/bots/telegram/{{city.name}}/disconnect" class="inline">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <p>Disconnecting stops the bot. Its subscribers are kept: connecting this bot again (also with a new token) keeps them; connecting another bot drops them.</p>
  <button class="secondary">Disconnect {{bot['handle']}}</button>
</form>
% end
% if not connected:
<p>No Telegram bot is connected. People who write to your city's bot report inspectors; who sends it <code>/start</code> gets every accepted report.</p>
<p>To make a bot: in Telegram, write <code>/newbot</code> to <a href="https://t.me/BotFather">@BotFather</a>, choose a name and a username ending in "bot"; it answers with the bot's token. Paste the token here.</p>
% end
<form method="post" action="/bots/telegram/{{city.name}}/token">
  <input type="hidden" name="csrf" value="{{csrf}}">
% if connected:
  <label for="telegram-token">The bot's new token from @BotFather (<code>/token</code>, or <code>/revoke</code> if the old one leaked), or another bot's token to replace it</label>
% else:
  <label for="telegram-token">The bot's token from @BotFather</label>
% end
  <input id="telegram-token" name="token" required maxlength="200" autocomplete="off" spellcheck="false" placeholder="123456789:AAH…">
  <button>{{'Replace the token' if connected else 'Connect the bot'}}</button>
</form>
