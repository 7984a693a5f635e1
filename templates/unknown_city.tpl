% rebase('base.tpl', title='Unknown city')
<h1>There is no city “{{name}}” here</h1>
<p>Ticketfrei has no city of that name on this instance. Organisers can bring their city here:
see the <a href="/">start page</a>.</p>
