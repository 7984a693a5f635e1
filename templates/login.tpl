% rebase('base.tpl', title='Log in')
<h1>Log in</h1>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
<form method="post" action="/login">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="email">E-mail address</label>
  <input id="email" name="email" type="email" value="{{email}}" required autocomplete="email">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required autocomplete="current-password">
  <button>Log in</button>
</form>
<p><a href="/reset">Forgot your password?</a></p>
