<h2>On Telegram</h2>
% for account in accounts:
%   username = account.label[1:] if account.label.startswith('@') else ''
<p>Write to
% if username:
<a href="https://t.me/{{username}}">{{account.label}}</a>:
% else:
{{city.name.capitalize()}}'s bot:
% end
send <code>/start</code> to get every report here, or send what you saw as text (it is relayed without your name).</p>
% end
