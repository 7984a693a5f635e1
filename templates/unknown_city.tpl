% rebase('base.tpl', title='Unknown city')
<h1>There is no city “{{name}}” here</h1>
<p>Ticketfrei has no city of that name on this instance. Do you organise in {{name}}?
<a href="/signup">Sign up</a> and bring your city here, or see the
<a href="/">cities that are here</a>.</p>
