% rebase('base.tpl', title='Sign up')
<h1>Bring your city to Ticketfrei</h1>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
<form method="post" action="/signup">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="city">City name (lower-case letters, digits and hyphens; it becomes /city/<em>name</em>)</label>
  <input id="city" name="city" value="{{city}}" required maxlength="64" pattern="[a-z0-9][a-z0-9\-]*" autocomplete="off">
  <label for="email">E-mail address of the organisers</label>
  <input id="email" name="email" type="email" value="{{email}}" required maxlength="254" autocomplete="email">
  <label for="password">Password (at least 8 characters)</label>
  <input id="password" name="password" type="password" required minlength="8" autocomplete="new-password">
  <button>Sign up</button>
</form>
<p>We send you a mail; the link in it creates your city.</p>
