% rebase('base.tpl', title=city.name.capitalize())
% if not own_heading:
<h1>Ticketfrei {{city.name.capitalize()}}</h1>
% end
<div class="city-text">{{!text}}</div>
% for name, part in parts:
<section class="network network-{{name}}">{{!part}}</section>
% end
