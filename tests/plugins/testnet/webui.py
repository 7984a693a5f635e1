"""The test network's web UI: shows that the frontend mounts a bot's app at /bots/<name>/."""
import bottle


def make_app(settings, sessions, notify_main):
    app = bottle.Bottle()

    @app.get("/")
    def index():
        return "testnet web UI\n"

    return app
