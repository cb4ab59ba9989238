"""Everything that touches Kafka, Redis or Faust."""
