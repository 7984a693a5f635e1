% rebase('base.tpl', title='Create your city')
<h1>Create your city</h1>
<form method="post" action="/signup/confirm">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="token" value="{{token}}">
  <button>Create my city</button>
</form>
