<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · {{instance}}</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header><a href="/" class="brand">{{instance}}</a></header>
<main>
{{!base}}
</main>
<footer><p>{{instance}} — ticket inspectors, reported anonymously.</p></footer>
</body>
</html>
