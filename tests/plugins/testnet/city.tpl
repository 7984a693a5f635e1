<h2>On the test network</h2>
<p>Report to {{', '.join(a.label for a in accounts)}}.</p>
