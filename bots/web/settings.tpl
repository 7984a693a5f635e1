<h2>Your page</h2>
% if error:
<p class="error" role="alert">{{error}}</p>
% end
<p>Riders without an account anywhere can report through a form on your public page, and read
the accepted reports of the last hours there and in a feed.</p>
<form method="post" action="/bots/web/{{city.name}}/settings">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="form" value="{{'0' if web.form else '1'}}">
  <button>{{'Turn the report form off' if web.form else 'Turn the report form on'}}</button>
</form>
<form method="post" action="/bots/web/{{city.name}}/settings">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <input type="hidden" name="feed" value="{{'0' if web.feed else '1'}}">
  <button>{{'Turn the list and feed off' if web.feed else 'Turn the list and feed on'}}</button>
</form>
<form method="post" action="/bots/web/{{city.name}}/settings">
  <input type="hidden" name="csrf" value="{{csrf}}">
  <label for="web-window">Hours the list and the feed show</label>
  <input id="web-window" name="window_hours" type="number" min="0.5" max="48" step="0.5"
         value="{{'%g' % web.window_hours}}">
  <button>Save</button>
</form>
