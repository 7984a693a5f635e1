% rebase('base.tpl', title='Choose a new password')
<h1>Choose a new password</h1>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
<form method="post" action="/reset/confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="token" value="{{token}}">
  <label for="password">New password (at least 8 characters)</label>
  <input id="password" name="password" type="password" required minlength="8" autocomplete="new-password">
  <button>Save the password</button>
</form>
