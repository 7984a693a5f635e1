<h2>On Mastodon</h2>
% for account in accounts:
<p>Report by mentioning <strong>{{account.label}}</strong> in a post, or in a direct message
(it is posted again without your name). Follow {{account.label}} to read every report.</p>
% end
