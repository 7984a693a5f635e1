"""The benchmark network plugin (bench/fakenet.py); see bot.py."""
