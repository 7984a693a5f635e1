% rebase('base.tpl', title='Connect your Mastodon account')
<h1>Connect your Mastodon account</h1>
<p>Your instance, <strong>{{host}}</strong>, asks you to log in there (if you are not) and to
authorise Ticketfrei to read the account's mentions and to post. Then it sends you back here.</p>
<p><a class="button" href="{{url}}">Continue to {{host}}</a></p>
<p><a href="/settings#network-mastodon">Cancel</a></p>
