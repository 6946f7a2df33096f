module github.com/cardstop/cardstop

go 1.26

require (
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25
	go.etcd.io/bbolt v1.4.3
	periph.io/x/conn/v3 v3.7.3
	periph.io/x/host/v3 v3.8.5
)

require (
	github.com/jonboulle/clockwork v0.5.0 // indirect
	golang.org/x/sys v0.29.0 // indirect
)
