"""A plugin with no accounts and one instance-wide service: exercises service supervision."""
from bots import Bot


class ListenerBot(Bot):
    @classmethod
    def accounts(cls, session, city_id=None):
        return []

    @classmethod
    def deactivate(cls, session, account, reason):
        pass

    @classmethod
    def forget_city(cls, session, city_id, user_id):
        pass  # keeps nothing of a city
