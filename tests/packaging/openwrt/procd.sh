#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Test stand-in for OpenWrt's /lib/functions/procd.sh: instead of building
# the JSON message for `ubus call service set`, every procd_* call is
# appended to $STANDIN_LOG (name, then each argument in brackets; see
# functions.sh). What procd.sh would silently get wrong is logged as a line
# starting with ERROR: a parameter procd does not know, a parameter outside
# an instance, a jail mount without a jail, a trigger inside an instance.

# The parameter types and jail options procd.sh handles (_procd_set_param,
# _procd_add_jail); any other is dropped without a word on the router.
standin_params=" env data limits command netdev file respawn watch watchdog error nice term_timeout reload_signal pidfile user group seccomp capabilities facility extroot overlaydir tmpoverlaysize vrf stdout stderr no_new_privs "
standin_jail_options=" log ubus udebug procfs sysfs ronly requirejail netns userns cgroupsns "

standin_service=
standin_instance=
standin_jail=

standin_error() {
	printf 'ERROR %s\n' "$*" >>"${STANDIN_LOG:?STANDIN_LOG is not set}"
}

standin_in_instance() {
	[ -n "$standin_instance" ] || standin_error "$1 outside procd_open_instance/procd_close_instance"
}

standin_trigger() {
	[ -n "$standin_service" ] || standin_error "$1 outside a service"
	[ -z "$standin_instance" ] || standin_error "$1 inside an instance (procd.sh would put the trigger into the instance)"
	standin_record "$@"
}

procd_open_service() {
	[ -z "$standin_service" ] || standin_error "procd_open_service while $standin_service is open"
	standin_service=$1
	standin_record procd_open_service "$@"
}

procd_close_service() {
	[ -z "$standin_instance" ] || standin_error "procd_close_service with instance $standin_instance still open"
	# Like procd.sh, the triggers of service_triggers go with the service.
	service_triggers
	standin_record procd_close_service "$@"
	standin_service=
}

procd_open_instance() {
	[ -n "$standin_service" ] || standin_error "procd_open_instance outside a service"
	[ -z "$standin_instance" ] || standin_error "procd_open_instance while $standin_instance is open"
	standin_instance=${1:-instance}
	standin_jail=
	standin_record procd_open_instance "$@"
}

procd_close_instance() {
	standin_in_instance procd_close_instance
	standin_instance=
	standin_jail=
	standin_record procd_close_instance "$@"
}

standin_param() {
	standin_in_instance "$1"
	case "$standin_params" in
	*" $2 "*) ;;
	*) standin_error "$1: procd does not know the parameter '$2'" ;;
	esac
	if [ "$2" = reload_signal ] && ! kill -l "$3" >/dev/null 2>&1; then
		standin_error "$1: reload_signal '$3' is not a signal"
	fi
	standin_record "$@"
}

procd_set_param() { standin_param procd_set_param "$@"; }
procd_append_param() { standin_param procd_append_param "$@"; }

procd_add_jail() {
	standin_in_instance procd_add_jail
	standin_jail=$1
	shift
	for standin_option in "$@"; do
		case "$standin_jail_options" in
		*" $standin_option "*) ;;
		*) standin_error "procd_add_jail: procd does not know the jail option '$standin_option'" ;;
		esac
	done
	standin_record procd_add_jail "$standin_jail" "$@"
}

standin_jail_mount() {
	standin_name=$1
	shift
	[ -n "$standin_jail" ] || standin_error "$standin_name without procd_add_jail (procd.sh drops the mount)"
	for standin_path in "$@"; do
		case "$standin_path" in
		/*) ;;
		*) standin_error "$standin_name: '$standin_path' is not an absolute path (ujail refuses it)" ;;
		esac
	done
	standin_record "$standin_name" "$@"
}

procd_add_jail_mount() { standin_jail_mount procd_add_jail_mount "$@"; }
procd_add_jail_mount_rw() { standin_jail_mount procd_add_jail_mount_rw "$@"; }

procd_add_reload_trigger() { standin_trigger procd_add_reload_trigger "$@"; }
procd_add_config_trigger() { standin_trigger procd_add_config_trigger "$@"; }
procd_add_interface_trigger() { standin_trigger procd_add_interface_trigger "$@"; }
procd_add_reload_interface_trigger() { standin_trigger procd_add_reload_interface_trigger "$@"; }
procd_add_raw_trigger() { standin_trigger procd_add_raw_trigger "$@"; }
procd_add_validation() { standin_trigger procd_add_validation "$@"; }

procd_kill() { standin_record procd_kill "$@"; }
procd_send_signal() { standin_record procd_send_signal "$@"; }
procd_running() {
	standin_record procd_running "$@"
	return 1
}
