<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · {{instance}}</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header>
  <a href="/" class="brand">{{instance}}</a>
  <nav>
% if login:
    <a href="/settings">Settings</a> <a href="/account">Account</a>
    <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button class="link">Log out</button></form>
% else:
    <a href="/signup">Sign up</a> <a href="/login">Log in</a>
% end
  </nav>
</header>
<main>
{{!base}}
</main>
<footer><p>{{instance}}: ticket inspectors, reported anonymously.</p></footer>
</body>
</html>
