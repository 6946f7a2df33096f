module github.com/cardstop/cardstop

go 1.26

require go.etcd.io/bbolt v1.4.3

require (
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25 // indirect
	golang.org/x/sys v0.29.0 // indirect
)
