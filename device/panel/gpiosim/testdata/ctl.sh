# The command loop on ttyS1: each line is "<id> <length> <shell command>".
# A line whose command is not as long as it says lost bytes on the way in
# (seen now and then while the guest is busy) and is answered "@@BAD", to
# be sent again; a good one "@@GOT <id>", then its output (stdout and
# stderr) and "@@END <id> <status>". Commands run in this shell, so one
# ending in & leaves a job here.

# gpio-sim's view of a line: sim $1 value|pull
sim() { echo /sys/devices/platform/gpio-sim.*/gpiochip*/sim_gpio$1/$2; }

# mkchip makes a chip named like the Pi's: 28 lines, the panel's four named.
mkchip() {
	c=/sys/kernel/config/gpio-sim/pi
	mkdir $c $c/bank0 && echo 28 >$c/bank0/num_lines && echo pinctrl-bcm2711 >$c/bank0/label || return 1
	for n in 17 22 23 27; do mkdir $c/bank0/line$n && echo GPIO$n >$c/bank0/line$n/name || return 1; done
	echo 1 >$c/live
}

# sample reads the LED lines (green GPIO17, amber GPIO27, red GPIO22) for
# $1 centiseconds of /proc/uptime, with builtins only (a fork is slow under
# TCG): one "<cs> <green><amber><red>" line per change, then "end <cs> <samples>".
sample() {
	g=$(sim 17 value) a=$(sim 27 value) r=$(sim 22 value)
	read up _ </proc/uptime; start=${up%.*}${up#*.}; now=$start; prev= n=0
	while [ $((now - start)) -lt $1 ]; do
		read vg <$g; read va <$a; read vr <$r
		n=$((n + 1))
		[ "$vg$va$vr" = "$prev" ] || echo "$now $vg$va$vr"
		prev=$vg$va$vr
		read up _ </proc/uptime; now=${up%.*}${up#*.}
	done
	echo "end $now $n"
}

# alive says whether process $1 exists and is not a zombie.
alive() { [ -r /proc/$1/stat ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$1/stat; }

echo "@@READY"
while IFS= read -r line; do
	[ -n "$line" ] || continue # the test's nudge after a lost newline
	id=${line%% *} rest=${line#* }
	n=${rest%% *} cmd=${rest#* }
	if [ "$line" = "$rest" ] || [ "$rest" = "$cmd" ] || [ "${#cmd}" != "$n" ]; then
		echo "@@BAD"
		continue
	fi
	echo "@@GOT $id"
	eval "$cmd" >/tmp/ctl.out 2>&1 </dev/null
	rc=$?
	cat /tmp/ctl.out
	printf '\n@@END %s %s\n' "$id" "$rc"
done
