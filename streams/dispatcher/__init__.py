"""The dispatcher worker: intervention commands to channels, exactly once per command id.

Nothing is imported here on purpose: ``streams.settings`` reads
``streams.dispatcher.settings`` and must not pull in Kafka, Redis or HTTP
clients with it.
"""
