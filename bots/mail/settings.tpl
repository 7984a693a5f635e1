<h2>Mailing list</h2>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
<p>Reports by mail go to <strong>{{list_address}}</strong>.
The list is <strong>{{'on' if on else 'off'}}</strong> and has {{active}} subscriber(s).</p>
% if dropped:
<p>These addresses bounced and get no more mail:</p>
<ul>
% for d in dropped:
  <li>{{d.email}}: {{d.last_error or ''}}</li>
% end
</ul>
% end
<form method="post" action="/bots/mail/{{city.name}}/settings">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="enabled" value="{{'0' if on else '1'}}">
  <button>{{'Turn the mailing list off' if on else 'Turn the mailing list on'}}</button>
</form>
<form method="post" action="/bots/mail/{{city.name}}/settings">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="mail_md">The mailing list's part of your public page (Markdown)</label>
  <textarea id="mail_md" name="mail_md" rows="6">{{city.mail_md or ''}}</textarea>
  <button>Save the mail page text</button>
</form>
