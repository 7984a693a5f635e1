% rebase('base.tpl', title=city.city.capitalize())
<h1>Ticketfrei {{city.city.capitalize()}}</h1>
<div class="city-text">{{!text}}</div>
% for name, part in parts:
<section class="network network-{{name}}">{{!part}}</section>
% end
