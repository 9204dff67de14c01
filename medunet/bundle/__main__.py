from medunet.bundle.export import main

main()
