package storetest

var sweeperCases = []Case{}
