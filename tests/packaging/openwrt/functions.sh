#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Test stand-in for what OpenWrt's /lib/functions.sh gives init scripts:
# the UCI helpers (config_load reads $UCI_CONFIG_DIR/PACKAGE, by default
# /etc/config, like uci itself), plus recording stand-ins for the commands
# an init script runs on the router. Those are shell functions because a
# busybox built with FEATURE_SH_STANDALONE runs its own applets before
# anything on PATH, and functions come first.
#
# Every call is appended to $STANDIN_LOG as one line: the name, then each
# argument in brackets.

standin_record() {
	standin_line=$1
	shift
	for standin_arg in "$@"; do
		standin_line="$standin_line [$standin_arg]"
	done
	printf '%s\n' "$standin_line" >>"${STANDIN_LOG:?STANDIN_LOG is not set}"
}

logger() { standin_record logger "$@"; }
mkdir() { standin_record mkdir "$@"; }
chown() { standin_record chown "$@"; }
chmod() { standin_record chmod "$@"; }

# UCI: the file is read as the shell commands config, option and list, as
# functions.sh does with `uci export`. Like functions.sh, loading another
# package resets the list of sections but not the options of a section name
# seen before.
# An unnamed section gets a name as `uci -n export` gives it: cfg, the
# section's index in two hex digits, a hash in four.
config() {
	standin_sections=$((standin_sections + 1))
	standin_section=${2:-$(printf 'cfg%02x%04x' "$standin_sections" 48879)}
	standin_section_list="$standin_section_list $standin_section"
	eval "CONFIG_${standin_section}_TYPE=\$1"
}

option() {
	eval "CONFIG_${standin_section}_$1=\$2"
}

list() {
	eval "standin_value=\${CONFIG_${standin_section}_$1:-}"
	if [ -n "$standin_value" ]; then
		eval "CONFIG_${standin_section}_$1=\"\$standin_value \$2\""
	else
		eval "CONFIG_${standin_section}_$1=\$2"
	fi
}

config_load() {
	standin_sections=0
	standin_section_list=
	standin_file="${UCI_CONFIG_DIR:-/etc/config}/$1"
	[ -f "$standin_file" ] || return 1
	# shellcheck source=/dev/null # a UCI file
	. "$standin_file"
}

# config_get VAR SECTION OPTION [DEFAULT]: like functions.sh, an empty
# option gives the default too.
config_get() {
	eval "standin_value=\${CONFIG_$2_$3:-\$4}"
	eval "$1=\$standin_value"
}

config_get_bool() {
	config_get standin_bool "$2" "$3" "$4"
	case "$standin_bool" in
	1 | on | true | yes | enabled) standin_bool=1 ;;
	0 | off | false | no | disabled) standin_bool=0 ;;
	*) standin_bool=$4 ;;
	esac
	eval "$1=\$standin_bool"
}

# config_foreach FUNCTION TYPE
config_foreach() {
	standin_function=$1
	standin_type=$2
	for standin_each in $standin_section_list; do
		standin_each_type=
		eval "standin_each_type=\$CONFIG_${standin_each}_TYPE"
		[ "$standin_each_type" = "$standin_type" ] || continue
		"$standin_function" "$standin_each"
	done
}
