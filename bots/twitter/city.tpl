<h2>On X</h2>
% from html import escape
% from bots.twitter.bot import TwitterBot
% options = TwitterBot.options
% for account in accounts:
%   username = account.label[1:] if account.label.startswith('@') else ''
%   if username:
%     shown = '<a href="https://x.com/%s">%s</a>' % (escape(username), escape(account.label))
%   else:
%     shown = escape(city.name.capitalize() + "'s account")
%   end
<p>
% if options.read_mentions:
Mention {{!shown}} in a post with what you saw: the account reposts it (a repost shows who wrote it).
% end
% if options.read_direct_messages:
Send {{!shown}} a direct message with what you saw: it is posted without your name.
% end
Follow {{!shown}} for every report.</p>
% end
