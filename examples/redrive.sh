#!/bin/sh
# Redrive: send the dead letters of a work queue back to the topic they
# came from, with their keys, once the cause of the failures is fixed.
#
#   examples/redrive.sh [dead-letter-topic]       (default: dlq.jobs)
#
# The workers put them there with
#   bus-sub --group workers --exec ./work.sh --retries 3 \
#       --on-failure=dead-letter=dlq.jobs jobs
# The cursor "redrive" remembers how far it went: run it again later and
# it sends only the dead letters that came since.
set -eu
dlq=${1:-dlq.jobs}
exec bus-sub --name redrive --from beginning -e "$dlq" --exec \
    'bus-pub -t "$BUS_TAG_BUS_DLQ_TOPIC" ${BUS_KEY:+-k "$BUS_KEY"}'
