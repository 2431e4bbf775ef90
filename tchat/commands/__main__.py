from tchat.commands.docs import main

main()
