% rebase('base.tpl', title='Start')
<h1>Ticketfrei</h1>
<p>Ticketfrei lets people in a city warn each other about ticket inspectors in public transit.
Send a report to one of your city's accounts and it is passed on, within seconds and without
your name, on all the others.</p>
<h2>Cities</h2>
% if cities:
<ul class="cities">
% for c in cities:
  <li><a href="/city/{{c.name}}">{{c.name.capitalize()}}</a></li>
% end
</ul>
% else:
<p>No city is on this instance yet.</p>
% end
<h2>Your city is missing?</h2>
<p><a href="/signup">Bring it here</a>: connect your city's accounts and Ticketfrei relays the reports.</p>
