% rebase('base.tpl', title='Connect your X account')
<h1>Connect your X account</h1>
<p>X asks you to log in there with your city's account (if you are not) and to authorise
Ticketfrei to read the account's mentions and to post. Then X sends you back here.</p>
<p><a class="button" href="{{url}}">Continue to X</a></p>
<p><a href="/settings#network-twitter">Cancel</a></p>
