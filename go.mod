module github.com/vigil-ha/vigil

go 1.26.8
