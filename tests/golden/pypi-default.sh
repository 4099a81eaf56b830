torch==2.3.1 triton==2.3.1 xformers==0.0.27 nvidia-cublas-cu12==12.1.3.1 nvidia-cudnn-cu12==8.9.2.26 nvidia-nccl-cu12==2.20.5
