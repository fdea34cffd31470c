module github.com/api-jongler/jongler

go 1.26.0
