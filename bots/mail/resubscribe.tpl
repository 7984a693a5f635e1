% from urllib.parse import quote
% rebase('base.tpl', title="Subscribe")
<h1>Subscribe</h1>
<p>This link is from the previous version of this site. To receive the reports of
{{city.name.capitalize()}} by mail, ask for a new confirmation mail and follow its link.</p>
<form method="post" action="/bots/mail/{{quote(city.name)}}/subscribe">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="email" value="{{email}}">
  <button>Send me a confirmation mail</button>
</form>
