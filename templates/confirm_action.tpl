% rebase('base.tpl', title=title)
<h1>{{title}}</h1>
<form method="post" action="{{action}}">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="token" value="{{token}}">
  <button>{{button}}</button>
</form>
