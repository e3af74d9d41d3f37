# Shortcuts for those who have make; tasks.py works without it.
.PHONY: demo test soak bench
demo:
	python3 tasks.py demo
test:
	python3 tasks.py test
soak:
	python3 tasks.py soak
bench:
	python3 tasks.py bench
