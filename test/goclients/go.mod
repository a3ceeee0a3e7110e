module github.com/runnel/runnel/test/goclients

go 1.26

replace github.com/runnel/runnel => ../..
