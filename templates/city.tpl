% rebase('base.tpl', title=city.city.capitalize())
<h1>Ticketfrei {{city.city.capitalize()}}</h1>
<div class="city-text">{{!text}}</div>
