#!/bin/sh
# Ship a log file to the bus, line by line, following it across rotation
# (tail -F reopens the file by name), as `tail -F | bus-pub` does.
#
#   examples/log-shipper.sh /var/log/nginx/access.log web.access
#
# Each line becomes one message of TOPIC, sent as soon as it is read.  With
# KEY_REGEX, the first capture group of it in each line is the message key,
# so that bus-compact can keep the newest line per key:
#
#   KEY_REGEX='^(\S+)' examples/log-shipper.sh /var/log/auth.log auth
#
# bus-pub starts busd if none runs.  If busd goes away, bus-pub retries for
# --retry-for before giving up; this loop then starts the pipeline again,
# from the end of the file: lines written in between are not shipped twice,
# but may be missed -- run busd under a supervisor (contrib/busd.service).
set -u
file=${1:?usage: log-shipper.sh FILE TOPIC}
topic=${2:?usage: log-shipper.sh FILE TOPIC}

while :; do
	if [ -n "${KEY_REGEX:-}" ]; then
		tail -n 0 -F "$file" |
		    bus-pub --retry-for 1m -t "$topic" --key-regex "$KEY_REGEX"
	else
		tail -n 0 -F "$file" | bus-pub --retry-for 1m -t "$topic"
	fi
	echo "log-shipper: bus-pub exited $?; restarting in 5 s" >&2
	sleep 5
done
