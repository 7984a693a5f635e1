<h2>Test network</h2>
<p>Accounts of {{city.name}} on the test network: {{len([r for r in status if r.network == 'testnet'])}} running.</p>
