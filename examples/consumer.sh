#!/bin/sh
# A durable consumer: handle every alert once, in order, surviving
# restarts, with one command per message.
#
#   examples/consumer.sh            # as a service, or from a supervisor
#
# --name keeps the position in the cursor DIR/cursors/alert-mailer: a
# restart resumes after the last message handled, never before.  A message
# is handled, and committed, only once its command exits 0; a failing
# command is retried, then bus-sub stops with status 70, leaving the cursor
# before that message.  The command gets the payload on its standard input
# and the message in BUS_TOPIC, BUS_OFFSET, BUS_KEY, BUS_TAG_* and so on.
#
# Run `bus-rotate --keep-cursors` from cron (examples/crontab) so that
# retention never deletes what this consumer has not handled yet; see how
# far behind it is with `bus-sub --list-cursors alert-mailer`.
set -eu

exec bus-sub --name alert-mailer --from beginning --exec '
	mail -s "[$BUS_TOPIC] alert ${BUS_KEY:-}" "${ALERT_TO:-root}"
' 'alerts\..*'
