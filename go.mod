module github.com/heraldhq/herald

go 1.26

require (
	github.com/coder/websocket v1.8.15
	pgregory.net/rapid v1.3.0
)
