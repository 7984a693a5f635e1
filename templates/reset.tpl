% rebase('base.tpl', title='Reset your password')
<h1>Reset your password</h1>
<form method="post" action="/reset">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="email">E-mail address of your account</label>
  <input id="email" name="email" type="email" required autocomplete="email">
  <button>Send me a link</button>
</form>
