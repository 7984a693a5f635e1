% rebase('base.tpl', title='Your account')
<h1>Your account</h1>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
% if message:
<p class="message" role="status">{{message}}</p>
% end
<h2>Change your password</h2>
<form method="post" action="/account/password">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="old">Current password</label>
  <input id="old" name="old" type="password" required autocomplete="current-password">
  <label for="new">New password (at least 8 characters)</label>
  <input id="new" name="new" type="password" required minlength="8" autocomplete="new-password">
  <button>Change the password</button>
</form>
<h2>Delete your account</h2>
<p>This deletes your account, your city, its connected accounts, subscribers and reports. It cannot be undone.</p>
<form method="post" action="/account/delete">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="delete-password">Your password</label>
  <input id="delete-password" name="password" type="password" required autocomplete="current-password">
  <label class="check"><input type="checkbox" name="confirm" value="yes" required> Yes, delete everything</label>
  <button class="danger">Delete my account and city</button>
</form>
