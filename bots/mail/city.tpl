% import frontend
% from urllib.parse import quote
<h2>By mail</h2>
<p>Report by writing to <a href="mailto:{{accounts[0].label}}">{{accounts[0].label}}</a>.
Nobody learns your address: only the text is passed on.</p>
<div class="mail-text">{{!frontend.render_markdown(city.mail_md, top=3)}}</div>
<form id="subscribe" method="post" action="/bots/mail/{{quote(city.name)}}/subscribe">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="subscribe-email">Get every report by mail</label>
  <input id="subscribe-email" name="email" type="email" required maxlength="254" autocomplete="email">
  <button>Subscribe</button>
</form>
<p><small>Or send a mail with the subject “subscribe” to {{accounts[0].label}}.</small></p>
